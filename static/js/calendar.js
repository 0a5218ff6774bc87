// The week calendar on a narrow screen (a tablet upright) opens scrolled to
// today's column, so the day the front desk works on is in view, with whole
// columns at the left edge (not the end of yesterday's cut in half).
"use strict";

function showToday() {
  const week = document.querySelector(".calendar-week");
  const today = week && week.querySelector(".calendar-col.is-today");
  if (!today || week.scrollWidth <= week.clientWidth) {
    return;
  }
  const gap = parseFloat(getComputedStyle(week).columnGap) || 0;
  const origin = week.getBoundingClientRect().left - week.scrollLeft;
  // Where each column starts, as a scroll position that shows it first.
  const starts = [...week.querySelectorAll(".calendar-col")].map(
    (column) => column.getBoundingClientRect().left - origin - gap,
  );
  const furthest = week.scrollWidth - week.clientWidth;
  const wanted = today.getBoundingClientRect().left - origin - gap;
  // Near the end of the week the view can't start at today: it starts at the
  // last column it can start at whole, as long as today stays in view.
  const todayEnd = today.getBoundingClientRect().right - origin;
  const fitting = starts.filter(
    (start) =>
      start <= Math.min(wanted, furthest) &&
      todayEnd <= start + week.clientWidth,
  );
  week.scrollLeft = fitting.length ? Math.max(...fitting) : Math.min(wanted, furthest);
}
document.addEventListener("DOMContentLoaded", showToday);

// A week is a practitioner's or a room's: picking one clears the other, so
// "Show" shows what was picked.
document.addEventListener("change", (event) => {
  const picked = event.target;
  const other = { practitioner: "room", room: "practitioner" }[picked.name];
  if (other && picked.value && picked.form && picked.form.elements[other]) {
    picked.form.elements[other].value = "";
  }
});
