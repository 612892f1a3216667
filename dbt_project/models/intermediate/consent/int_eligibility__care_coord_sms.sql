{#- The consent rules for CARE_COORD by sms, sent by the covered entity,
    at the build's as_of: one row per person (the eligibility macro). -#}
with

evaluated as (

    select * from {{ eligibility("CARE_COORD", "sms") }} as verdicts

),

final as (

    select * from evaluated

)

select * from final
