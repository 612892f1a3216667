{#-
    The consent rules evaluated at the build's `as_of` instant for the standing
    communications every team sends: one row per person and communication, with the
    verdict and every rule that fired. Each communication is its own intermediate
    model (int_eligibility__<purpose>_<channel>, the `eligibility` macro), which the
    rule unit tests exercise one at a time. Segments evaluate their own communication
    (topic, list, recipients) through the same macro, and on DuckDB a post-hook
    stores that macro as functions of an instant (create_eligibility_functions).
-#}
{{ config(post_hook="{{ clearlist.create_eligibility_functions() }}") }}
{#- The post-hook reads the ledger; dbt learns of those inputs from these hints. -#}
-- depends_on: {{ ref('purpose_codes') }}
-- depends_on: {{ ref('majority_ages') }}
-- depends_on: {{ ref('dim_persons') }}
-- depends_on: {{ ref('fct_authorizations') }}
-- depends_on: {{ ref('fct_email_suppressions') }}
-- depends_on: {{ ref('fct_sms_revocations') }}
-- depends_on: {{ ref('fct_fundraising_optouts') }}
-- depends_on: {{ ref('fct_privacy_requests') }}
-- depends_on: {{ ref('recipient_register') }}
-- depends_on: {{ ref('data_categories') }}
-- depends_on: {{ ref('fct_personal_representatives') }}
-- depends_on: {{ ref('fct_sensitive_flags') }}
-- depends_on: {{ ref('fct_medication_requests') }}
-- depends_on: {{ ref('fct_contact_points') }}
{% set communications = [
    "int_eligibility__marketing_email",
    "int_eligibility__marketing_sms",
    "int_eligibility__fundraising_email",
    "int_eligibility__fundraising_mail",
    "int_eligibility__health_ed_email",
    "int_eligibility__treatment_email",
    "int_eligibility__care_coord_sms",
    "int_eligibility__refill_sms",
] -%}

with

{% for communication in communications %}
    {{ communication }} as (

        select * from {{ ref(communication) }}

    ),

{% endfor %}
unioned as (

    {% for communication in communications %}
        select * from {{ communication }}
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
