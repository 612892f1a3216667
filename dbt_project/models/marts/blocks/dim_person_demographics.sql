{#-
    One row per person: the demographics a segment may select on, at `as_of`.
    1. Age in whole years on the UTC date of `as_of` (macro age_on: the birthday
       counts from its own day) and its band (macro age_band).
    2. Sex as the EHR records it (FHIR administrative gender), `unknown` without one.
    3. State of residence as dim_persons merged it; ZIP3 is the first three digits
       of the EHR postal code.
    4. Preferred language: the base language of the newest EHR patient version
       (`es` for `es-MX`), `unknown` without one.
-#}
with

persons as (

    select * from {{ ref('dim_persons') }}

),

links as (

    select * from {{ ref('int_source_records_linked') }}
    where source_system = 'ehr'

),

patients as (

    select * from {{ ref('stg_ehr__patients') }}
    where known_at <= {{ as_of() }}

),

patient_languages as (

    select
        links.person_id,
        patients.language,
        row_number() over (
            partition by links.person_id
            order by patients.last_updated_at desc, patients.known_at desc
        ) as version_rank
    from patients
    inner join links
        on patients.patient_id = links.source_record_id

),

languages as (

    select
        person_id,
        lower(trim({{ dbt.split_part("language", "'-'", 1) }}))
            as preferred_language
    from patient_languages
    where version_rank = 1 and language is not null

),

final as (

    select
        ---------- ids
        persons.person_id,

        ---------- attributes
        persons.birth_date,
        {{ clearlist.age_band(clearlist.age_on("persons.birth_date")) }} as age_band,
        coalesce(lower(persons.gender), 'unknown') as sex,
        persons.residence_state,
        substring(persons.postal_code, 1, 3) as zip3,
        coalesce(languages.preferred_language, 'unknown')
            as preferred_language,

        ---------- numerics
        {{ clearlist.age_on("persons.birth_date") }} as age_years,

        ---------- timestamps
        {{ as_of() }} as evaluated_as_of

    from persons
    left join languages
        on persons.person_id = languages.person_id

)

select * from final
