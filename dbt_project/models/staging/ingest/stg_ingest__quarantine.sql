with

source as (

    select * from {{ source('ingest', 'quarantine') }}

),

renamed as (

    select
        ---------- ids
        _batch_id as batch_id,
        _source_file as source_file,
        _source_line as source_line,
        record_key,

        ---------- attributes
        entity,
        reason,

        ---------- timestamps
        _received_at as received_at,
        _loaded_at as loaded_at

    from source

)

select * from renamed
