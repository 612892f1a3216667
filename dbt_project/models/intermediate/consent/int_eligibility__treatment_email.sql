{#- The consent rules for TREATMENT by email, sent by the covered entity,
    at the build's as_of: one row per person (the eligibility macro). With the
    `treatment_third_party_remuneration` var (default false) a third party pays
    for the message and R-MKT-EXC-TX makes it marketing. -#}
with

evaluated as (

    select * from {{ eligibility(
        "TREATMENT",
        "email",
        third_party_remuneration=var("treatment_third_party_remuneration", false),
    ) }} as verdicts

),

final as (

    select * from evaluated

)

select * from final
