{#- R-EMAIL-NORM: suppressions match on the whole address, trimmed, in Unicode NFC
    and lower-cased. -#}
{% macro normalize_email(column) -%}
    nullif(lower({{ clearlist.unicode_nfc("trim(" ~ column ~ ")") }}), '')
{%- endmacro %}

{#- R-EMAIL-NORM: the key an opt-out is matched on, so that it also covers the
    provider-equivalent variants of its address: a `+tag` is dropped from every
    local part, and dots from Gmail's. Only suppressions match on it; inclusion
    never widens consent. The key is taken in Unicode NFC and lower case again, so
    that it holds for addresses that did not pass through normalize_email. -#}
{% macro email_match_key(column) -%}
    {%- set column = "lower(" ~ clearlist.unicode_nfc(column) ~ ")" -%}
    {%- set local = "split_part(" ~ column ~ ", '@', 1)" -%}
    {%- set domain = "split_part(" ~ column ~ ", '@', 2)" -%}
    {%- set untagged = "split_part(" ~ local ~ ", '+', 1)" -%}
    case
        when {{ column }} is null then null
        when {{ domain }} in ('gmail.com', 'googlemail.com')
            then concat(replace({{ untagged }}, '.', ''), '@gmail.com')
        else concat({{ untagged }}, '@', {{ domain }})
    end
{%- endmacro %}
