{#-
    Deterministic bucket in [0, modulus) of a text key: the first 15 hex digits of md5(key) as an integer,
    modulo `modulus` (fits a signed 64-bit integer). The reference interpreter uses the same formula:
    int(md5(key).hexdigest()[:15], 16) % modulus.
-#}
{% macro journey_bucket(key_sql, modulus_sql) -%}
    {{ return(adapter.dispatch('journey_bucket', 'journeys')(key_sql, modulus_sql)) }}
{%- endmacro %}

{% macro default__journey_bucket(key_sql, modulus_sql) -%}
    (cast(('0x' || substr(md5({{ key_sql }}), 1, 15)) as bigint) % ({{ modulus_sql }}))
{%- endmacro %}
