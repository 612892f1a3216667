{#- A marketing email inviting adults to the covered entity's new wellness program. -#}
{% call segment(
    owner="marketing-analytics",
    description="Invitation to the covered entity's new wellness program.",
    purpose_code="MARKETING",
    purpose_reviewer="privacy-office",
    marketing_topic="wellness-program",
    channel="email",
    list_id="4101",
    recipients=["CoveredEntity"],
    criteria_categories=["demographics"],
    export_columns=["person_token", "email", "first_name"],
) %}

with

persons as (

    select * from {{ ref('dim_persons') }}

),

criteria as (

    select person_id
    from persons
    where has_ehr_record

)

select * from criteria

{% endcall %}
