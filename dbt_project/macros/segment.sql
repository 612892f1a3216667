{#-
    A segment: the analyst's criteria, wrapped in the consent filter they cannot skip.

    A segment model is one call block of this macro. The arguments declare the
    communication the way RULES.md section 3 keeps a segment; the body is the
    analyst's query, returning the `person_id` of everyone they would like to reach:

        {% call segment(purpose_code="TREATMENT", channel="email", ...) %}
        select person_id from {{ ref('...') }} where ...
        {% endcall %}

    The model's rows are the segment's decisions (RULES.md section 3 `decision`):
    one per person the criteria chose, whether the consent rules include them for
    the declared purpose and channel and for every recipient at `as_of`, the rule
    ids that fired, and the export columns, filled only for included people.
    pipelines/lib/segments.py checks the declaration and the criteria statically
    before any segment builds; the export gate re-checks every outbound row.
-#}
{% macro segment(
    purpose_code,
    channel,
    export_columns,
    criteria_categories=["demographics"],
    recipients=["CoveredEntity"],
    marketing_topic=none,
    list_id=none,
    owner=none,
    description=none,
    purpose_reviewer=none,
    campaign_id=none,
    promoted_service=none,
    refill_drug=none,
    third_party_remuneration=false,
    remuneration_cost_only=false,
    remuneration_for_phi=false
) -%}
{%- set channel = channel | lower -%}
{%- set declared = {
    "purpose_code": purpose_code | upper,
    "channel": channel,
    "marketing_topic": marketing_topic,
    "list_id": list_id,
    "recipients": recipients,
    "criteria_categories": criteria_categories,
    "export_columns": export_columns,
    "owner": owner,
    "description": description,
    "purpose_reviewer": purpose_reviewer,
    "campaign_id": campaign_id,
    "promoted_service": promoted_service,
    "refill_drug": refill_drug,
    "third_party_remuneration": third_party_remuneration,
    "remuneration_cost_only": remuneration_cost_only,
    "remuneration_for_phi": remuneration_for_phi,
} -%}
{{ config(meta={"segment": declared}) }}
{%- set contact_column = clearlist.segment_contact_column(channel) -%}
{#- The PHI a communication uses: what its criteria read, and what it exports
    (names and addresses are demographics and contact information). -#}
{%- set info_scope = (criteria_categories + ["demographics", "contact"]) | unique | list -%}
with

segment_criteria as (

    {{ caller() }}

),

criteria_people as (

    select distinct person_id
    from segment_criteria
    where person_id is not null

),

segment_persons as (

    select * from {{ ref('dim_persons') }}

),

{% for recipient in recipients %}
verdicts_for_recipient_{{ loop.index }} as (

    select *
    from {{ eligibility(
        purpose_code=purpose_code,
        channel=channel,
        marketing_topic=marketing_topic,
        list_id=list_id,
        recipient=recipient,
        info_scope=info_scope,
        third_party_remuneration=third_party_remuneration,
        remuneration_for_phi=remuneration_for_phi,
        refill_drug=refill_drug,
        remuneration_cost_only=remuneration_cost_only,
    ) }} as evaluated

),

{% endfor %}
segment_decisions as (

    select
        criteria_people.person_id,
        {#- Included only when every recipient's verdict says so; a person the
            rules did not evaluate is excluded (RULES.md 1.1). -#}
        {%- for recipient in recipients %}
        coalesce(verdicts_for_recipient_{{ loop.index }}.is_eligible, false)
        {%- if not loop.last %} and{% endif %}
        {%- endfor %} as is_included,
        concat_ws(
            ';',
            {%- for recipient in recipients %}
            case
                when verdicts_for_recipient_{{ loop.index }}.person_id is null
                    then 'SEM-FAIL-CLOSED'
                else nullif(verdicts_for_recipient_{{ loop.index }}.rules_fired, '')
            end{% if not loop.last %},{% endif %}
            {%- endfor %}
        ) as rules_fired,
        verdicts_for_recipient_1.contact_value
    from criteria_people
    {%- for recipient in recipients %}
    left join verdicts_for_recipient_{{ loop.index }}
        on criteria_people.person_id = verdicts_for_recipient_{{ loop.index }}.person_id
    {%- endfor %}

),

final as (

    select
        segment_decisions.person_id,
        segment_decisions.is_included,
        segment_decisions.rules_fired,
        {{ clearlist.as_of() }} as segment_as_of,
        '{{ var("rule_set_version", "unversioned") }}' as rule_set_version,
        {%- for column in export_columns %}
        case
            when segment_decisions.is_included then
                {%- if column == "person_token" %}
                segment_decisions.person_id
                {%- elif column == contact_column %}
                segment_decisions.contact_value
                {%- else %}
                segment_persons.{{ column }}
                {%- endif %}
        end as {{ column }}{% if not loop.last %},{% endif %}
        {%- endfor %}
    from segment_decisions
    left join segment_persons
        on segment_decisions.person_id = segment_persons.person_id

)

select * from final
{%- endmacro %}


{#- The export column that carries the channel's address. -#}
{% macro segment_contact_column(channel) -%}
{{ return({
    "email": "email",
    "sms": "mobile_phone",
    "phone": "mobile_phone",
    "mail": "postal_address",
}[channel | lower]) }}
{%- endmacro %}
