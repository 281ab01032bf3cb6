{#-
    True when an ISO 3166-1 alpha-2 country code is one of the 27 member states of the European Union
    (since 2020-02-01, without the United Kingdom): AT BE BG HR CY CZ DK EE FI FR DE GR HU IE IT LV LT LU MT
    NL PL PT RO SK SI ES SE. Greece is GR (ISO), not EL (the EU's own abbreviation). Null for a null code.
-#}
{% macro identity_is_eu_country(country_code) -%}
    {{ return(adapter.dispatch('identity_is_eu_country', 'journeys')(country_code)) }}
{%- endmacro %}

{% macro default__identity_is_eu_country(country_code) -%}
    ({{ country_code }} in (
        'AT', 'BE', 'BG', 'HR', 'CY', 'CZ', 'DK', 'EE', 'FI', 'FR', 'DE', 'GR', 'HU', 'IE', 'IT', 'LV', 'LT', 'LU',
        'MT', 'NL', 'PL', 'PT', 'RO', 'SK', 'SI', 'ES', 'SE'
    ))
{%- endmacro %}
