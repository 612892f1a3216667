{#- The consent rules for HEALTH_ED by email, sent by the covered entity,
    at the build's as_of: one row per person (the eligibility macro). -#}
with

evaluated as (

    select * from {{ eligibility("HEALTH_ED", "email") }} as verdicts

),

final as (

    select * from evaluated

)

select * from final
