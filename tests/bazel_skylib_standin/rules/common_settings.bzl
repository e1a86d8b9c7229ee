"""bazel_skylib STAND-IN: common build setting rules, with the real names and provider."""

BuildSettingInfo = provider(
    doc = "A singleton provider that contains the raw value of a build setting",
    fields = {"value": "The value of the build setting in the current configuration."},
)

def _impl(ctx):
    return BuildSettingInfo(value = ctx.build_setting_value)

int_flag = rule(implementation = _impl, build_setting = config.int(flag = True), doc = "An int-typed build setting that can be set on the command line")
int_setting = rule(implementation = _impl, build_setting = config.int(), doc = "An int-typed build setting that cannot be set on the command line")
bool_flag = rule(implementation = _impl, build_setting = config.bool(flag = True), doc = "A bool-typed build setting that can be set on the command line")
bool_setting = rule(implementation = _impl, build_setting = config.bool(), doc = "A bool-typed build setting that cannot be set on the command line")
string_list_flag = rule(implementation = _impl, build_setting = config.string_list(flag = True), doc = "A string list-typed build setting that can be set on the command line")
string_list_setting = rule(implementation = _impl, build_setting = config.string_list(), doc = "A string list-typed build setting that cannot be set on the command line")

def _string_impl(ctx):
    allowed_values = ctx.attr.values
    value = ctx.build_setting_value
    if len(allowed_values) == 0 or value in ctx.attr.values:
        return BuildSettingInfo(value = value)
    fail("Error setting " + str(ctx.label) + ": invalid value '" + value + "'. Allowed values are " + str(allowed_values))

string_flag = rule(
    implementation = _string_impl,
    build_setting = config.string(flag = True),
    attrs = {"values": attr.string_list(doc = "The list of allowed values for this setting.")},
    doc = "A string-typed build setting that can be set on the command line",
)

string_setting = rule(
    implementation = _string_impl,
    build_setting = config.string(),
    attrs = {"values": attr.string_list(doc = "The list of allowed values for this setting.")},
    doc = "A string-typed build setting that cannot be set on the command line",
)
