{#- The consent rules for MARKETING by email, sent by the covered entity,
    at the build's as_of: one row per person (the eligibility macro). With the
    `marketing_remuneration_for_phi` var (default false) the covered entity is
    paid for the PHI itself, and R-SALE needs each authorization to state it. -#}
with

evaluated as (

    select * from {{ eligibility(
        "MARKETING",
        "email",
        remuneration_for_phi=var("marketing_remuneration_for_phi", false),
    ) }} as verdicts

),

final as (

    select * from evaluated

)

select * from final
