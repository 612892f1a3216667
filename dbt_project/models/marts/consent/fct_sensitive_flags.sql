{#-
    One row per person, sensitive category and the EHR resource that shows it.
    1. A DS4P security label on any resource marks its category (ds4p_labels seed):
       substance use, HIV, mental health, reproductive, genetic, Part 2 program,
       psychotherapy notes, self-pay.
    2. A label on an encounter covers every resource that references that encounter
       (INPUTS.md fine print).
    3. A condition with no label whose code is in a sensitive value set is labelled
       here (sensitive_value_sets seed).
    4. The person is the one the patient record links to; the flag counts from when
       the organization first knew the resource (R-SENS, R-SUD-P2, R-RESTRICT).
-#}
with

patients as (

    select * from {{ ref('stg_ehr__patients') }}

),

conditions as (

    select * from {{ ref('stg_ehr__conditions') }}

),

encounters as (

    select * from {{ ref('stg_ehr__encounters') }}

),

procedures as (

    select * from {{ ref('stg_ehr__procedures') }}

),

medication_requests as (

    select * from {{ ref('stg_ehr__medication_requests') }}

),

immunizations as (

    select * from {{ ref('stg_ehr__immunizations') }}

),

observations as (

    select * from {{ ref('stg_ehr__observations') }}

),

ds4p_labels as (

    select * from {{ ref('ds4p_labels') }}

),

value_sets as (

    select * from {{ ref('sensitive_value_sets') }}

),

links as (

    select * from {{ ref('int_source_records_linked') }}
    where source_system = 'ehr'

),

{%- set resources = [
    ("Patient", "patients", "patient_id", none),
    ("Condition", "conditions", "condition_id", "encounter_id"),
    ("Encounter", "encounters", "encounter_id", "encounter_id"),
    ("Procedure", "procedures", "procedure_id", "encounter_id"),
    ("MedicationRequest", "medication_requests", "medication_request_id", "encounter_id"),
    ("Immunization", "immunizations", "immunization_id", "encounter_id"),
    ("Observation", "observations", "observation_id", "encounter_id"),
] %}

labelled_resources as (

    {% for resource_type, relation, id_column, encounter_column in resources %}
        select
            '{{ resource_type }}' as resource_type,
            {{ id_column }} as resource_id,
            patient_id,
            {{ encounter_column or "cast(null as " ~ dbt.type_string() ~ ")" }}
                as encounter_id,
            security_labels,
            known_at
        from {{ relation }}
        {% if not loop.last %}union all{% endif %}
    {% endfor %}

),

flags_from_labels as (

    select
        labelled_resources.patient_id,
        labelled_resources.resource_type,
        labelled_resources.resource_id,
        labelled_resources.encounter_id,
        ds4p_labels.category,
        'ds4p_label' as flag_source,
        labelled_resources.known_at
    from labelled_resources
    inner join ds4p_labels
        on {{ list_has_value(
            'labelled_resources.security_labels', 'ds4p_labels.label_code'
        ) }}

),

flags_from_encounters as (

    select
        labelled_resources.patient_id,
        labelled_resources.resource_type,
        labelled_resources.resource_id,
        labelled_resources.encounter_id,
        flags_from_labels.category,
        'encounter_label' as flag_source,
        greatest(labelled_resources.known_at, flags_from_labels.known_at) as known_at
    from labelled_resources
    inner join flags_from_labels
        on
            labelled_resources.encounter_id = flags_from_labels.resource_id
            and flags_from_labels.resource_type = 'Encounter'
    where labelled_resources.resource_type != 'Encounter'

),

flags_from_value_sets as (

    select
        conditions.patient_id,
        'Condition' as resource_type,
        conditions.condition_id as resource_id,
        conditions.encounter_id,
        value_sets.category,
        'value_set' as flag_source,
        conditions.known_at
    from conditions
    inner join value_sets
        on
            conditions.code_system = value_sets.code_system
            and (
                (value_sets.match_type = 'exact' and conditions.code = value_sets.code)
                or (
                    value_sets.match_type = 'prefix'
                    and {{ dbt.position('value_sets.code', 'conditions.code') }} = 1
                )
            )

),

unioned as (

    select * from flags_from_labels
    union all
    select * from flags_from_encounters
    union all
    select * from flags_from_value_sets

),

final as (

    select
        {{ dbt.hash(dbt.concat([
            "links.person_id", "'|'", "unioned.category", "'|'",
            "unioned.resource_type", "'|'", "unioned.resource_id",
        ])) }} as sensitive_flag_id,
        links.person_id,
        unioned.patient_id,
        unioned.category,
        unioned.resource_type,
        unioned.resource_id,
        unioned.encounter_id,
        min(unioned.flag_source) as flag_source,
        min(unioned.known_at) as first_known_at
    from unioned
    inner join links
        on unioned.patient_id = links.source_record_id
    group by
        links.person_id,
        unioned.patient_id,
        unioned.category,
        unioned.resource_type,
        unioned.resource_id,
        unioned.encounter_id

)

select * from final
