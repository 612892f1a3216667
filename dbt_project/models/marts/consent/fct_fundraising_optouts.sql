{#-
    One row per fundraising opt-out (45 CFR 164.514(f)(2)(ii)): a Salesforce
    FUNDRAISING OptOut on any channel, with the first later FUNDRAISING OptIn of the
    same person as its documented opt-back-in (164.514(f)(2)(v)).
-#}
with

channel_consents as (

    select * from {{ ref('stg_crm__contact_point_consents') }}

),

links as (

    select * from {{ ref('int_source_records_linked') }}

),

fundraising_choices as (

    select
        links.person_id,
        channel_consents.contact_point_consent_id,
        channel_consents.consent_status,
        case
            when
                channel_consents.capture_at is not null
                and channel_consents.capture_at < channel_consents.known_at
                then channel_consents.capture_at
            else channel_consents.known_at
        end as chosen_at
    from channel_consents
    inner join links
        on
            links.source_system = 'crm'
            and channel_consents.crm_contact_id = links.source_record_id
    where channel_consents.purpose_code = 'FUNDRAISING'

),

opt_outs as (

    select * from fundraising_choices
    where consent_status = 'optout'

),

opt_ins as (

    select * from fundraising_choices
    where consent_status = 'optin'

),

final as (

    select
        opt_outs.contact_point_consent_id as fundraising_optout_id,
        opt_outs.person_id,
        opt_outs.chosen_at as opted_out_at,
        min(opt_ins.chosen_at) as opted_back_in_at
    from opt_outs
    left join opt_ins
        on
            opt_outs.person_id = opt_ins.person_id
            and opt_outs.chosen_at < opt_ins.chosen_at
    group by
        opt_outs.contact_point_consent_id,
        opt_outs.person_id,
        opt_outs.chosen_at

)

select * from final
