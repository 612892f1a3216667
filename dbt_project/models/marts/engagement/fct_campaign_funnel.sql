{#-
    One row per campaign, workflow and step: how many distinct people reached each
    stage of an email send (R-AGG: a stage counts distinct people), the drop-off
    between stages and from the previous step, and the hours from delivery to the
    first open. The rules are written down in macros/campaign_funnel.sql. Counts here
    are internal: anything that leaves the warehouse suppresses small cells first
    (pipelines/lib/suppression.py).
-#}
{{ config(post_hook="{{ clearlist.create_campaign_funnel_functions() }}") }}
{#- The post-hook reads the events again; dbt learns of those inputs from these. -#}
-- depends_on: {{ ref('fct_email_events') }}
-- depends_on: {{ ref('fct_app_events') }}
-- depends_on: {{ ref('int_source_records_linked') }}
{{ campaign_funnel(ref('fct_campaign_step_people')) }}
