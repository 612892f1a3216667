{#- A refill reminder by text for patients currently prescribed lisinopril. -#}
{% call segment(
    owner="pharmacy",
    description=(
        "Refill reminder by text for patients currently prescribed lisinopril "
        "10 MG Oral Tablet (RxNorm 314076)."
    ),
    purpose_code="REFILL",
    purpose_reviewer="privacy-office",
    channel="sms",
    recipients=["CoveredEntity"],
    criteria_categories=["medications"],
    export_columns=["person_token", "mobile_phone", "first_name"],
    refill_drug="314076",
) %}

with

medications as (

    select * from {{ ref('fct_active_medications') }}

),

criteria as (

    select person_id
    from medications
    where rxnorm_code = '314076'

)

select * from criteria

{% endcall %}
