{#-
    The consent rules evaluated at the build's `as_of` instant for the standing
    communications every team sends: one row per person and communication, with the
    verdict and every rule that fired. Segments evaluate their own communication
    (topic, list, recipients) through the same macro, and on DuckDB a post-hook
    stores that macro as functions of an instant (create_eligibility_functions).
-#}
{{ config(post_hook="{{ clearlist.create_eligibility_functions() }}") }}
{%- set communications = [
    {"purpose_code": "MARKETING", "channel": "email"},
    {"purpose_code": "MARKETING", "channel": "sms"},
    {"purpose_code": "FUNDRAISING", "channel": "email"},
    {"purpose_code": "FUNDRAISING", "channel": "mail"},
    {"purpose_code": "HEALTH_ED", "channel": "email"},
    {"purpose_code": "TREATMENT", "channel": "email"},
    {"purpose_code": "CARE_COORD", "channel": "sms"},
] -%}

with

{% for communication in communications %}
    {%- set verdicts = eligibility(communication.purpose_code, communication.channel) %}
    {{ communication.purpose_code | lower }}_{{ communication.channel }} as (

        select evaluated.*
        from {{ verdicts }} as evaluated

    ),

{% endfor %}
unioned as (

    {% for communication in communications %}
        select *
        from {{ communication.purpose_code | lower }}_{{ communication.channel }}
        {% if not loop.last %}union all{% endif %}
    {% endfor %}

),

final as (

    select
        {{ dbt.hash(dbt.concat([
            "person_id", "'|'", "purpose_code", "'|'", "channel", "'|'", "recipient"
        ])) }} as eligibility_id,
        unioned.*
    from unioned

)

select * from final
