with

source as (

    select * from {{ source('ehr', 'ehr_related_persons') }}

),

renamed as (

    select
        ---------- ids
        related_person_id,
        patient_id,
        version_id,

        ---------- attributes
        upper(trim(relationship_code)) as relationship_code,

        ---------- timestamps
        period_start_at,
        period_end_at,
        last_updated_at,
        {{ known_at() }} as known_at,
        _batch_id as batch_id

    from source

)

select * from renamed
