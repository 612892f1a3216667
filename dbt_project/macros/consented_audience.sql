{#-
    The last step of every segment: keep only the people of `criteria` whom the
    consent rules allow for the segment's declared communication at `as_of`, for
    every recipient it names, and project the columns the segment exports. Analysts
    write the criteria; this step is not theirs to skip. It continues the segment's
    own `with` list: a segment ends its criteria CTEs with a comma, then calls it.
-#}
{% macro consented_audience(criteria, segment) -%}
{%- set recipients = segment.get("recipients", ["CoveredEntity"]) -%}
{%- set channel = segment["channel"] | lower -%}
{%- set contact_column = {
    "email": "email",
    "sms": "mobile_phone",
    "phone": "mobile_phone",
    "mail": "postal_address",
}[channel] -%}
criteria_people as (

    select distinct person_id from {{ criteria }}

),

audience_persons as (

    select * from {{ ref('dim_persons') }}

),

{% for recipient in recipients %}
allowed_{{ loop.index }} as (

    select *
    from {{ eligibility(
        purpose_code=segment["purpose_code"],
        channel=channel,
        marketing_topic=segment.get("marketing_topic"),
        list_id=segment.get("list_id"),
        recipient=recipient,
        info_scope=segment.get("info_scope", ["demographics", "contact"]),
        third_party_remuneration=segment.get("third_party_remuneration", false),
        remuneration_for_phi=segment.get("remuneration_for_phi", false),
    ) }} as evaluated
    where is_eligible

),

{% endfor %}
final as (

    select
        criteria_people.person_id,
        {%- for column in segment["export_columns"] %}
        {%- if column == "person_token" %}
        criteria_people.person_id as person_token,
        {%- elif column == contact_column %}
        allowed_1.contact_value as {{ column }},
        {%- else %}
        audience_persons.{{ column }},
        {%- endif %}
        {%- endfor %}
        allowed_1.as_of as segment_as_of
    from criteria_people
    inner join audience_persons
        on criteria_people.person_id = audience_persons.person_id
    {%- for recipient in recipients %}
    inner join allowed_{{ loop.index }}
        on criteria_people.person_id = allowed_{{ loop.index }}.person_id
    {%- endfor %}

)

select * from final
{%- endmacro %}
