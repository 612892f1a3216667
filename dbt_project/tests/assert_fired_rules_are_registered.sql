{#- Every rule id the eligibility model names must be in the rule registry, so that
    reports and the gate can cite it. Returns the rows naming an unregistered id. -#}
with

eligibility as (

    select * from {{ ref('eligibility') }}

),

rule_registry as (

    select * from {{ ref('rule_registry') }}

),

fired as (

    select
        eligibility_id,
        rules_fired,
        length(rules_fired) - length(replace(rules_fired, ';', '')) + 1
            as fired_count
    from eligibility
    where rules_fired != ''

),

registered as (

    select
        fired.eligibility_id,
        count(rule_registry.rule_id) as registered_count
    from fired
    inner join rule_registry
        on {{ dbt.concat(["';'", "fired.rules_fired", "';'"]) }}
        like {{ dbt.concat(["'%;'", "rule_registry.rule_id", "';%'"]) }}
    group by fired.eligibility_id

),

final as (

    select fired.eligibility_id
    from fired
    left join registered
        on fired.eligibility_id = registered.eligibility_id
    where coalesce(registered.registered_count, 0) != fired.fired_count

)

select * from final
