"""British English as the clinic writes it: times on the 24-hour clock, as the
app's own pages do ("17:30", not "5:30 p.m."). What isn't set here is Django's
en_GB format."""

TIME_FORMAT = "H:i"
DATETIME_FORMAT = "j M Y, H:i"
SHORT_DATETIME_FORMAT = "d/m/Y H:i"
# The first is how a time field shows its value: "07:00", not "07:00:00".
TIME_INPUT_FORMATS = ["%H:%M", "%H:%M:%S", "%H:%M:%S.%f"]
