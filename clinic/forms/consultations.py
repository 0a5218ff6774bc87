"""The consultation: what the patient wants, the screening and the decision."""

import re

from django import forms
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from clinic.forms.fields import (
    CheckboxesField,
    HiddenErrorsShown,
    PageVersionField,
    reason_in_words,
)
from clinic.models import (
    CONTRAINDICATIONS,
    Area,
    Consultation,
    Goal,
    answers_in_a_sentence,
)
from clinic.services.consultations import RECORDED
from clinic.services.stale import seen_stamp

# What people type in the medication box to mean they take none.
NO_MEDICATION = {"", "none", "no", "nil", "n/a", "na", "nothing", "no medication"}
# Other words that start a "none" ("Not taking any", "None currently"), or a
# medication used before ("Stopped tretinoin last month", which belongs in the
# screening note): not guessed at, as "No retinoids, tretinoin 0.05%" names one;
# asked about instead.
SAYS_NONE = re.compile(
    r"^\W*(no|not|none|nil|nothing|never|nope|zero|n/?a|n/?k|unknown|unsure"
    r"|don'?t know|do not know|(?:patient\s+|pt\.?\s+)?denie[sd]|stopped|no longer"
    r"|previously|formerly|used to|finished|discontinued|ceased|past)\b",
    re.I,
)
# Words anywhere in the box that say a medication is not used now ("Tretinoin
# (discontinued)", "Client denies any", "Off tretinoin since October", "NKA"):
# asked about too.
NOT_USED_NOW = re.compile(
    r"\b(denie[sd]|stopped|discontinued|ceased|no longer|previously|formerly"
    r"|used to|was on|until|off \w+|nka|nkda|nil known|none known)\b",
    re.I,
)


class ScreeningAnswer(forms.RadioSelect):
    """Yes, no, or not asked yet: each its own button, so an answer can be
    taken back. A question the page didn't send is one not asked, not one to
    keep as it was saved."""

    def value_omitted_from_data(self, data, files, name) -> bool:
        return False


class ConsultationForm(HiddenErrorsShown, forms.ModelForm):
    areas = CheckboxesField(
        label=gettext_lazy("Areas of concern"),
        choices=Area.choices,
        error_messages={"required": gettext_lazy("Tick at least one area.")},
    )
    goals = CheckboxesField(
        label=gettext_lazy("Goals"),
        choices=Goal.choices,
        error_messages={"required": gettext_lazy("Tick at least one goal.")},
    )
    # Which version of the consultation the page showed (clinic.services.stale).
    seen = PageVersionField()

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.initial["seen"] = seen_stamp(self.instance, RECORDED)
        if self.instance.decided_by_id and not self.is_bound:
            # A decision recorded is changed to another, not taken back (a page
            # opened before it was recorded may still send "not decided": the
            # save then says a colleague decided meanwhile).
            field = self.fields["decision"]
            field.choices = [
                choice
                for choice in field.choices
                if choice[0] != Consultation.Decision.PENDING
            ]

    class Meta:
        model = Consultation
        fields = [
            "areas",
            "goals",
            "hoped_for_results",
            "skin_type",
            "topical_medication",
            *CONTRAINDICATIONS,
            "screening_note",
            "decision",
            "decision_reason",
        ]
        widgets = {
            "hoped_for_results": forms.Textarea(attrs={"rows": 2}),
            "screening_note": forms.Textarea(attrs={"rows": 2}),
            "decision_reason": forms.Textarea(attrs={"rows": 2}),
            "decision": forms.RadioSelect,
        } | {
            name: ScreeningAnswer(
                choices=[
                    (True, gettext_lazy("Yes")),
                    (False, gettext_lazy("No")),
                    ("", gettext_lazy("Not asked yet")),
                ],
                attrs={"class": "form-check-input"},
            )
            for name in CONTRAINDICATIONS
        }
        help_texts = {
            "decision_reason": gettext_lazy(
                "Needed when the patient is not eligible or referred, and when "
                "eligible despite a yes in the screening."
            ),
        }

    def _reason_of_another_decision(self, decision: str | None, reason: str) -> bool:
        """The reason saved with a decision, sent unchanged with another one
        (the form shows the saved reason, which a change of decision leaves)."""
        before = self.instance.decision if self.instance.pk else None
        return (
            before not in (None, Consultation.Decision.PENDING)
            and decision not in (None, before)
            and bool(reason)
            # Word for word, however the lines end.
            and reason.split() == self.instance.decision_reason.split()
        )

    @property
    def screening(self) -> list[forms.BoundField]:
        return [self[name] for name in CONTRAINDICATIONS]

    def clean_topical_medication(self) -> str:
        """ "None" or "n/a" typed into the box means no medication: kept as
        such, or a pre-care email would ask the patient to stop "None"."""
        # One line, as the pre-care email quotes it mid-sentence (a tab or line
        # break pasted in is a space).
        typed = " ".join(self.cleaned_data.get("topical_medication", "").split())
        # "N.A." is "na"; "None." is "none".
        plain = typed.casefold().replace(".", "").strip(" !-–—")
        plain = plain if plain in NO_MEDICATION else plain.replace(" ", "")
        if plain in NO_MEDICATION:
            return ""
        if (
            SAYS_NONE.match(typed)
            or NOT_USED_NOW.search(typed)
            or not any(c.isalpha() for c in typed)
        ):
            # "?", "0" or "-": not a medication to ask the patient to stop.
            raise forms.ValidationError(
                _(
                    "Leave this empty when the patient uses no topical medication, "
                    "and name only what they use now (one used before goes in the "
                    "screening note): the pre-care emails ask them to stop what "
                    "is written here."
                )
            )
        return typed

    def clean(self) -> dict:
        data = super().clean()
        answered_yes = [name for name in CONTRAINDICATIONS if data.get(name)]
        note = data.get("screening_note", "")
        if answered_yes and "screening_note" not in self._errors:
            try:
                data["screening_note"] = reason_in_words(
                    note,
                    asked=_(
                        "A yes in the screening needs your note, in a few words: "
                        "what it means for treatment."
                    ),
                )
            except forms.ValidationError as error:
                self.add_error("screening_note", error)
        decision = data.get("decision")
        needs_reason = (
            Consultation.Decision.NOT_ELIGIBLE,
            Consultation.Decision.REFER,
        )
        reason = data.get("decision_reason", "").strip()
        asked = None
        if decision in needs_reason:
            asked = _(
                "Give the reason, in a few words, when the patient is not "
                "eligible or referred."
            )
        elif decision == Consultation.Decision.ELIGIBLE:
            for name in CONTRAINDICATIONS:
                if data.get(name) is None and name not in self._errors:
                    self.add_error(
                        name, _("Ask this and answer it before deciding eligible.")
                    )
            if answered_yes:
                asked = _(
                    "Eligible despite a yes in the screening (%(answers)s): give "
                    "the reason it is safe to treat, in a few words."
                ) % {"answers": answers_in_a_sentence(answered_yes)}
        if self._reason_of_another_decision(decision, reason):
            # "Active acne: come back later" is no reason to find them eligible.
            if asked:
                self.add_error(
                    "decision_reason",
                    _(
                        "This reason was given for \u201c%(before)s\u201d: give the "
                        "reason for the new decision, in a few words."
                    )
                    % {"before": self.instance.get_decision_display().lower()},
                )
            else:
                data["decision_reason"] = reason = ""
        if asked and "decision_reason" not in self._errors:
            try:
                data["decision_reason"] = reason_in_words(reason, asked=asked)
            except forms.ValidationError as error:
                self.add_error("decision_reason", error)
        if decision == Consultation.Decision.PENDING and reason:
            self.add_error(
                "decision_reason",
                _(
                    "A reason goes with a decision: pick one, or leave the reason "
                    "empty until then."
                ),
            )
        return data
