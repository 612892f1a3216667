{#-
    One row per person and campaign step: when the person was sent, delivered,
    opened (by a person; machine opens apart), clicked and converted, among the
    events known at the build's `as_of`. The rules are written down in
    macros/campaign_funnel.sql. Person-level and internal: never exported, and any
    count of it is suppressed (R-AGG) before it leaves the warehouse.
-#}
{{ campaign_step_people(clearlist.as_of()) }}
