{#- A partner's marketing campaign: Acme Pharma's heart-health program, sent by
    the covered entity and shared with Acme Pharma, so every person needs a valid
    marketing authorization naming Acme Pharma among its recipients (R-MKT-AUTH,
    R-RECIP). Acme pays nothing for it; were it paid, third_party_remuneration
    would be true and each authorization would have to disclose the payment
    (R-MKT-REMUN). The criteria use demographics only. -#}
{% call segment(
    owner="partnerships",
    description=(
        "Acme Pharma's heart-health program invitation to adults 40 and over, "
        "sent by the covered entity and shared with Acme Pharma."
    ),
    purpose_code="MARKETING",
    purpose_reviewer="privacy-office",
    marketing_topic="acme-heart-health",
    channel="email",
    list_id="4105",
    recipients=["CoveredEntity", "Acme Pharma"],
    criteria_categories=["demographics"],
    export_columns=["person_token", "email", "first_name"],
    promoted_service="acme-heart-health-program",
) %}

with

demographics as (

    select * from {{ ref('dim_person_demographics') }}

),

criteria as (

    select person_id
    from demographics
    where age_years >= 40

)

select * from criteria

{% endcall %}
