{#-
    One row per person with an EHR record: influenza and COVID-19 vaccination
    status at `as_of`.
    1. Doses come from seeds/clinical_value_sets.csv (CVX codes of `flu_vaccine`
       and `covid_vaccine`); only `completed` immunizations given at or before
       `as_of` count, and records with a security label never do.
    2. This season starts on 1 August of the season `as_of` falls in (macro
       flu_season_start); the same start is used for the season's updated
       COVID-19 vaccine.
    People with no recorded dose have a row with false flags, so that a reminder
    can select them.
-#}
with

persons as (

    select * from {{ ref('dim_persons') }}
    where has_ehr_record

),

clinical_records as (

    select * from {{ ref('int_clinical_records_coded') }}
    where
        record_kind = 'immunization'
        and record_status = 'completed'
        and started_at <= {{ as_of() }}

),

doses as (

    select
        person_id,
        max(case when value_set = 'flu_vaccine' then started_at end)
            as last_flu_vaccine_at,
        max(case when value_set = 'covid_vaccine' then started_at end)
            as last_covid_vaccine_at
    from clinical_records
    group by person_id

),

final as (

    select
        ---------- ids
        persons.person_id,

        ---------- attributes
        {{ clearlist.flu_season_start() }} as flu_season_start_date,

        ---------- booleans
        coalesce(
            doses.last_flu_vaccine_at
            >= cast({{ clearlist.flu_season_start() }} as {{ dbt.type_timestamp() }}),
            false
        ) as has_flu_vaccine_this_season,
        coalesce(
            doses.last_covid_vaccine_at
            >= cast({{ clearlist.flu_season_start() }} as {{ dbt.type_timestamp() }}),
            false
        ) as has_covid_vaccine_this_season,
        doses.last_covid_vaccine_at is not null as has_any_covid_vaccine,

        ---------- timestamps
        doses.last_flu_vaccine_at,
        doses.last_covid_vaccine_at,
        {{ as_of() }} as evaluated_as_of

    from persons
    left join doses
        on persons.person_id = doses.person_id

)

select * from final
