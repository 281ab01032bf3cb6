{#-
    An order amount converted to the reporting currency, USD (the catalogue's currency), rounded to the cent
    as a decimal(18, 2), so that sums over orders are exact and the same in every run.

    Rates are fixed planning rates, in units of the order currency per USD, from the var
    journeys__reporting_currency_rates (default: the rates the sample business prices with, EUR 0.92 and
    GBP 0.79). They are not daily exchange rates: good enough to rank and segment customers by value, not for
    finance. A currency without a rate gives null, never a guess; staging accepts only the currencies listed.
-#}
{% macro identity_reporting_currency_amount(amount, currency) -%}
    {{ return(adapter.dispatch('identity_reporting_currency_amount', 'journeys')(amount, currency)) }}
{%- endmacro %}

{% macro default__identity_reporting_currency_amount(amount, currency) -%}
    {%- set rates = var('journeys__reporting_currency_rates', {'USD': 1.0, 'EUR': 0.92, 'GBP': 0.79}) -%}
    cast(round(case {{ currency }}
        {%- for code, units_per_usd in rates | dictsort %}
        when '{{ code }}' then {{ amount }} / {{ units_per_usd }}
        {%- endfor %}
    end, 2) as decimal(18, 2))
{%- endmacro %}
