{#- The consent rules for FUNDRAISING by email, sent by the covered entity,
    at the build's as_of: one row per person (the eligibility macro). -#}
with

evaluated as (

    select * from {{ eligibility("FUNDRAISING", "email") }} as verdicts

),

final as (

    select * from evaluated

)

select * from final
