{#- A flu-vaccine reminder for adults in California not vaccinated this season. -#}
{% call segment(
    owner="population-health",
    description=(
        "Flu-vaccine reminder for adults living in California with no influenza "
        "dose since this season began (1 August)."
    ),
    purpose_code="TREATMENT",
    purpose_reviewer="privacy-office",
    channel="email",
    recipients=["CoveredEntity"],
    criteria_categories=["demographics", "immunizations"],
    export_columns=["person_token", "email", "first_name"],
    promoted_service="influenza-vaccination",
) %}

with

demographics as (

    select * from {{ ref('dim_person_demographics') }}

),

vaccinations as (

    select * from {{ ref('fct_vaccination_status') }}

),

criteria as (

    select demographics.person_id
    from demographics
    inner join vaccinations
        on demographics.person_id = vaccinations.person_id
    where
        demographics.residence_state = 'CA'
        and demographics.age_years >= 18
        and not vaccinations.has_flu_vaccine_this_season

)

select * from criteria

{% endcall %}
