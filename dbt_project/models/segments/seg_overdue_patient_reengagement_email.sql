{#- Invites patients overdue for a visit (last one 1-2 years ago) back to care. -#}
{% call segment(
    owner="patient-access",
    description=(
        "Re-engagement of patients overdue for a visit: last visit one to two "
        "years ago, no recent no-show (care-journey stage overdue)."
    ),
    purpose_code="OWN_HEALTH_SERVICE",
    purpose_reviewer="privacy-office",
    channel="email",
    recipients=["CoveredEntity"],
    criteria_categories=["appointments"],
    export_columns=["person_token", "email", "first_name"],
    promoted_service="annual-check-up",
) %}

with

care_journeys as (

    select * from {{ ref('dim_care_journeys') }}

),

criteria as (

    select person_id
    from care_journeys
    where care_journey_stage = 'overdue'

)

select * from criteria

{% endcall %}
