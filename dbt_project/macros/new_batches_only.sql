{#- The filter of an append-only incremental model fed batch by batch: on an
    incremental run, keep only the rows of landing batches the model has not taken
    yet, so a new batch never rebuilds history. Raw drops replayed records, so each
    batch adds only records not seen before. -#}
{% macro new_batches_only(batch_column="batch_id") -%}
    {%- if is_incremental() %}
    where {{ batch_column }} not in (select distinct batch_id from {{ this }})
    {%- endif %}
{%- endmacro %}
