{#- A fundraising appeal by mail. 45 CFR 164.514(f)(1) lets fundraising use only
    demographics, dates of care, department of service, treating physician,
    outcome and insurance status: this one reads age, visit dates and the
    department, never a diagnosis (R-FUND-DATA). -#}
{% call segment(
    owner="foundation-relations",
    description=(
        "Annual appeal for the heart-care fund to adults seen in Cardiology in "
        "the last year."
    ),
    purpose_code="FUNDRAISING",
    purpose_reviewer="privacy-office",
    channel="mail",
    recipients=["CoveredEntity"],
    criteria_categories=["demographics", "appointments", "departments"],
    export_columns=["person_token", "first_name", "last_name", "postal_address"],
) %}

with

demographics as (

    select * from {{ ref('dim_person_demographics') }}

),

visits as (

    select * from {{ ref('fct_visits') }}
    where
        department_name = 'Cardiology'
        and started_at > {{ dbt.dateadd("day", -365, clearlist.as_of()) }}

),

criteria as (

    select visits.person_id
    from visits
    inner join demographics
        on visits.person_id = demographics.person_id
    where demographics.age_years >= 18

)

select * from criteria

{% endcall %}
