{#-
    One row per inbound text that revokes consent to texts (R-SMS-STOP,
    47 CFR 64.1200(a)(10)): a carrier opt-out (OptOutType STOP) or a message whose
    whole body is one of the revocation words. The revocation covers every text from
    the sender ("revoke-all") from the moment it arrived.
-#}
with

messages as (

    select * from {{ ref('stg_engagement__sms_messages') }}

),

final as (

    select
        message_sid as sms_revocation_id,
        {{ phone_key('from_number') }} as phone_key,
        coalesce(opt_out_type, body_upper) as matched_keyword,
        known_at as revoked_at
    from messages
    where
        message_kind = 'inbound'
        and (
            opt_out_type = 'STOP'
            or body_upper in (
                'STOP', 'STOPALL', 'QUIT', 'END', 'REVOKE', 'OPT OUT', 'OPTOUT',
                'CANCEL', 'UNSUBSCRIBE'
            )
        )

)

select * from final
