{#- The consent rules for a REFILL reminder by sms, sent by the covered entity, at
    the build's as_of: one row per person (the eligibility macro). The drug comes
    from the `refill_drug` var (an RxNorm code or a list of codes); the default is
    the demo's lisinopril 10 MG Oral Tablet. R-MKT-EXC-REFILL excludes everyone the
    drug is not currently prescribed to; with the `refill_third_party_remuneration`
    var and without `refill_remuneration_cost_only` the reminder is marketing. -#}
with

evaluated as (

    select * from {{ eligibility(
        "REFILL",
        "sms",
        refill_drug=var("refill_drug", "314076"),
        third_party_remuneration=var("refill_third_party_remuneration", false),
        remuneration_cost_only=var("refill_remuneration_cost_only", false),
    ) }} as verdicts

),

final as (

    select * from evaluated

)

select * from final
