{#-
    Age building blocks for segment criteria.

    `age_on(birth_date, on_date)` is the age in whole years on a date: the
    birthday counts from its own day, so someone born on 1976-12-01 is 50 on
    2026-12-01. A 29 February birthday counts from 1 March in other years.
    `age_band(age)` names the band an age falls in, the bands of HEDIS-style
    reporting. `as_of_date()` is the calendar date (UTC) of the `as_of` instant.
    These describe a person for criteria; whether a minor may be contacted is
    R-MINOR's question, which eligibility answers with its own reading.
-#}
{% macro age_on(birth_date, on_date=none) -%}
    {%- set on_date = on_date or clearlist.as_of_date() -%}
    (
        extract(year from {{ on_date }})
        - extract(year from {{ birth_date }})
        - case
            when
                extract(month from {{ on_date }}) * 100
                + extract(day from {{ on_date }})
                < extract(month from {{ birth_date }}) * 100
                + extract(day from {{ birth_date }})
                then 1
            else 0
        end
    )
{%- endmacro %}

{% macro age_band(age) -%}
    case
        when {{ age }} is null then 'unknown'
        when {{ age }} < 18 then '0-17'
        when {{ age }} < 25 then '18-24'
        when {{ age }} < 35 then '25-34'
        when {{ age }} < 45 then '35-44'
        when {{ age }} < 55 then '45-54'
        when {{ age }} < 65 then '55-64'
        when {{ age }} < 75 then '65-74'
        when {{ age }} < 85 then '75-84'
        else '85+'
    end
{%- endmacro %}
