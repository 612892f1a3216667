{#- A screening reminder: women 50-74 with no mammogram in the last two years. -#}
{% call segment(
    owner="population-health",
    description=(
        "Breast-cancer screening reminder for women 50-74 without a mammogram "
        "in the last two years."
    ),
    purpose_code="TREATMENT",
    purpose_reviewer="privacy-office",
    channel="email",
    recipients=["CoveredEntity"],
    criteria_categories=["demographics", "procedures"],
    export_columns=["person_token", "email", "first_name"],
    promoted_service="screening-mammography",
) %}

with

demographics as (

    select * from {{ ref('dim_person_demographics') }}

),

mammograms as (

    select * from {{ ref('fct_recent_procedures') }}
    where value_set = 'mammography' and days_since_performed <= 730

),

criteria as (

    select demographics.person_id
    from demographics
    left join mammograms
        on demographics.person_id = mammograms.person_id
    where
        demographics.sex = 'female'
        and demographics.age_years between 50 and 74
        and mammograms.person_id is null

)

select * from criteria

{% endcall %}
