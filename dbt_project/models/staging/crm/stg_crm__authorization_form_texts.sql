with

source as (

    select * from {{ source('crm', 'crm_authorization_form_texts') }}

),

renamed as (

    select
        ---------- ids
        authorization_form_text_id,

        ---------- attributes
        name as form_name,
        revision_number,
        {{ normalize_list('associated_regulation') }} as regulations,

        ---------- booleans
        coalesce(has_revocation_statement, false) as has_revocation_statement,
        coalesce(has_conditioning_statement, false) as has_conditioning_statement,
        coalesce(has_redisclosure_statement, false) as has_redisclosure_statement,
        coalesce(has_not_condition_of_purchase, false)
            as has_not_condition_of_purchase,
        coalesce(is_compound, false) as is_compound,
        coalesce(conditioned_on_treatment, false) as is_conditioned_on_treatment,
        coalesce(is_deleted, false) as is_deleted,

        ---------- timestamps
        last_modified_at,
        {{ known_at() }} as known_at,
        _batch_id as batch_id

    from source

)

select * from renamed
