{#- Diabetes self-management education for patients with an active diagnosis. -#}
{% call segment(
    owner="population-health",
    description=(
        "Diabetes self-management education for patients with an active "
        "diabetes diagnosis."
    ),
    purpose_code="HEALTH_ED",
    purpose_reviewer="privacy-office",
    channel="email",
    recipients=["CoveredEntity"],
    criteria_categories=["conditions"],
    export_columns=["person_token", "email", "first_name"],
) %}

with

diagnoses as (

    select * from {{ ref('fct_active_diagnoses') }}

),

criteria as (

    select person_id
    from diagnoses
    where value_set = 'diabetes'

)

select * from criteria

{% endcall %}
