{#- Prenatal care education for expectant mothers. Pregnancy is a sensitive
    category (R-SENS): care coordination may use it, no marketing segment may. -#}
{% call segment(
    owner="womens-health",
    description=(
        "Prenatal care education and visit coordination for patients with a "
        "current pregnancy."
    ),
    purpose_code="CARE_COORD",
    purpose_reviewer="privacy-office",
    channel="email",
    recipients=["CoveredEntity"],
    criteria_categories=["pregnancy"],
    export_columns=["person_token", "email", "first_name"],
) %}

with

pregnancies as (

    select * from {{ ref('fct_active_pregnancies') }}

),

criteria as (

    select person_id
    from pregnancies

)

select * from criteria

{% endcall %}
