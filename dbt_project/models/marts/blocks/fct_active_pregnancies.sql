{#-
    One row per person with a pregnancy active at `as_of`. Pregnancy is a sensitive
    category (R-SENS, R-REPRO): only treatment and care-coordination segments may
    read this block; the static segment check refuses it to marketing and
    fundraising.
    1. Codes come from seeds/clinical_value_sets.csv (`data_category` pregnancy).
    2. Active as in fct_active_diagnoses, and the onset lies within the last 300
       days (about 43 weeks): a pregnancy never marked resolved does not stay
       active for ever.
-#}
{{ clearlist.active_diagnoses("pregnancy", max_onset_days=300) }}
