{#- A marketing email inviting adults to the covered entity's new wellness program. -#}
{%- set segment = {
    "owner": "marketing-analytics",
    "purpose_code": "MARKETING",
    "purpose_reviewer": "privacy-office",
    "marketing_topic": "wellness-program",
    "channel": "email",
    "list_id": "4101",
    "recipients": ["CoveredEntity"],
    "info_scope": ["demographics", "contact"],
    "export_columns": ["person_token", "email", "first_name"],
} -%}
{{ config(meta={"segment": segment}) }}

with

persons as (

    select * from {{ ref('dim_persons') }}

),

criteria as (

    select person_id
    from persons
    where has_ehr_record

),

{{ consented_audience('criteria', segment) }}
