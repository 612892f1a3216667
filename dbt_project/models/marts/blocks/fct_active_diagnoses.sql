{#-
    One row per person and condition value set (diabetes, hypertension, asthma)
    with a diagnosis active at `as_of`. Pregnancy, a sensitive category, has its
    own block (fct_active_pregnancies), so that a marketing segment cannot reach it
    through this one.
    1. Codes come from seeds/clinical_value_sets.csv (`data_category` conditions);
       records with a security label never count (int_clinical_records_coded).
    2. Active: clinical status `active`, onset at or before `as_of` (or unknown),
       and no abatement at or before `as_of`.
-#}
{{ clearlist.active_diagnoses("conditions") }}
