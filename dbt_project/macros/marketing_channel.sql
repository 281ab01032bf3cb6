{#-
    Groups a session's marketing parameters into one channel, the way web analytics tools do:
    paid_search, paid_social, email, affiliate, organic, referral, direct (else 'other').
    Paid media is recognised by utm_medium; unpaid traffic by its referrer.
-#}
{% macro marketing_channel(utm_source, utm_medium, referrer) -%}
    {{ return(adapter.dispatch('marketing_channel', 'journeys')(utm_source, utm_medium, referrer)) }}
{%- endmacro %}

{% macro default__marketing_channel(utm_source, utm_medium, referrer) -%}
    case
        when {{ utm_medium }} in ('paid_social', 'social_paid', 'paidsocial')
            or ({{ utm_medium }} in ('cpc', 'ppc', 'paid')
                and {{ utm_source }} in ('facebook', 'instagram', 'tiktok', 'linkedin', 'pinterest', 'snapchat'))
            then 'paid_social'
        when {{ utm_medium }} in ('cpc', 'ppc', 'paid_search', 'paidsearch', 'sem') then 'paid_search'
        when {{ utm_medium }} in ('email', 'e-mail', 'newsletter') then 'email'
        when {{ utm_medium }} in ('affiliate', 'affiliates', 'partner') then 'affiliate'
        when {{ utm_medium }} is not null then 'other'
        when {{ regexp_contains(
            "coalesce(" ~ referrer ~ ", '')",
            '^https?://([a-z0-9-]+[.])*(google|bing|duckduckgo|yahoo|ecosia|baidu|yandex)[.]'
        ) }} then 'organic'
        when {{ referrer }} is not null and {{ referrer }} <> '' then 'referral'
        else 'direct'
    end
{%- endmacro %}
