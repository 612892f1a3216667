{#- R-MKT-EXC-REFILL: the drugs a refill reminder is about, as the ';'-joined list
    the eligibility macro matches RxNorm codes against (';314076;617312;'), or none
    when no drug is declared. Takes one code or a list of codes; a code that is not
    all digits is an error, not a silent miss. -#}
{% macro refill_drug_list(refill_drug) -%}
    {%- if refill_drug is none or refill_drug == "" -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set codes = [refill_drug] if refill_drug is string or refill_drug is number
        else refill_drug -%}
    {%- set cleaned = [] -%}
    {%- for code in codes -%}
        {%- set text = code | string | trim -%}
        {%- if not modules.re.fullmatch("[0-9]+", text) -%}
            {{ exceptions.raise_compiler_error(
                "refill_drug expects RxNorm codes (digits only), got '" ~ text
                ~ "'; declare the drug by its RxNorm code"
            ) }}
        {%- endif -%}
        {%- do cleaned.append(text) -%}
    {%- endfor -%}
    {{ return((";" ~ cleaned | join(";") ~ ";") if cleaned else none) }}
{%- endmacro %}
