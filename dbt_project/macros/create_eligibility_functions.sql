{#-
    The eligibility logic as functions of an instant, stored in the warehouse: one
    DuckDB table macro per purpose code (from the purpose_codes seed) and channel,

        marts.eligibility_at__<purpose>__<channel>(
            p_marketing_topic, p_list_id, p_recipient, p_as_of,
            p_refill_drugs := null
        )

    each the `eligibility` macro itself, compiled with those as parameters;
    `p_refill_drugs`, the ';'-joined RxNorm codes a REFILL reminder is about
    (R-MKT-EXC-REFILL), is named and optional, and without it REFILL excludes
    everyone.
    `clearlist explain`, previews and export rechecks call them at any instant
    without a rebuild; the eligibility model is the same logic at the build's
    `as_of`. Run as a post-hook of the eligibility model, after the ledger it reads
    is built. Other adapters have no table macros and skip this step.
-#}
{% macro create_eligibility_functions() -%}
    {{ return(adapter.dispatch("create_eligibility_functions", "clearlist")()) }}
{%- endmacro %}

{% macro default__create_eligibility_functions() -%}
{%- endmacro %}

{% macro duckdb__create_eligibility_functions() -%}
    {%- if execute -%}
        {%- set purposes = run_query(
            "select purpose_code from " ~ ref("purpose_codes") ~ " order by 1"
        ).columns[0].values() -%}
        {%- for purpose in purposes -%}
            {%- for channel in eligibility_channels() %}
create or replace macro {{ this.schema }}.{{ eligibility_function_name(purpose, channel) }}(
    p_marketing_topic, p_list_id, p_recipient, p_as_of, p_refill_drugs := null
) as table
{{ eligibility(purpose, channel, parameters=true) }};
            {%- endfor -%}
        {%- endfor -%}
    {%- endif -%}
{%- endmacro %}

{% macro eligibility_channels() -%}
    {{ return(["email", "sms", "phone", "mail"]) }}
{%- endmacro %}

{% macro eligibility_function_name(purpose, channel) -%}
    eligibility_at__{{ purpose | lower }}__{{ channel | lower }}
{%- endmacro %}
