{#- The consent rules for TREATMENT by email, sent by the covered entity,
    at the build's as_of: one row per person (the eligibility macro). -#}
with

evaluated as (

    select * from {{ eligibility("TREATMENT", "email") }} as verdicts

),

final as (

    select * from evaluated

)

select * from final
