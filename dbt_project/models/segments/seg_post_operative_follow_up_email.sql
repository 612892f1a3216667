{#- A follow-up for patients within six weeks of a surgery that needs one. -#}
{% call segment(
    owner="surgical-services",
    description=(
        "Post-operative follow-up for patients within six weeks of a surgery on "
        "the follow-up list."
    ),
    purpose_code="TREATMENT",
    purpose_reviewer="privacy-office",
    channel="email",
    recipients=["CoveredEntity"],
    criteria_categories=["procedures"],
    export_columns=["person_token", "email", "first_name"],
) %}

with

procedures as (

    select * from {{ ref('fct_recent_procedures') }}

),

criteria as (

    select person_id
    from procedures
    where value_set = 'surgery_follow_up' and days_since_performed <= 42

)

select * from criteria

{% endcall %}
