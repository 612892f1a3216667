{#-
    One row per version of an encounter as the EHR sent it (FHIR id plus version):
    status, department and period, with when the organization knew that version.
    Encounters grow with every EHR batch, so the model is append-only and
    incremental by landing batch; readers take the newest version known at their
    instant.
-#}
{{
    config(
        materialized="incremental",
        incremental_strategy="append",
        on_schema_change="fail",
    )
}}

with

encounters as (

    select * from {{ ref('stg_ehr__encounters') }}
    {{ new_batches_only() }}

),

final as (

    select
        {{ dbt.hash(dbt.concat([
            "batch_id", "'|'",
            "source_file", "'|'",
            "cast(source_line as " ~ dbt.type_string() ~ ")",
        ])) }} as encounter_version_id,
        encounter_id,
        patient_id,
        practitioner_id,
        version_id,
        encounter_status,
        class_code,
        type_code,
        type_display,
        department_code,
        department_name,
        security_labels,
        started_at,
        ended_at,
        last_updated_at,
        known_at,
        batch_id,
        source_file,
        source_line
    from encounters

)

select * from final
