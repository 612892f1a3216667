{#- The consent rules for MARKETING by sms, sent by the covered entity,
    at the build's as_of: one row per person (the eligibility macro). -#}
with

evaluated as (

    select * from {{ eligibility("MARKETING", "sms") }} as verdicts

),

final as (

    select * from evaluated

)

select * from final
