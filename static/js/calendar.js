// The week calendar on a narrow screen (a tablet upright) opens scrolled to
// today's column, so the day the front desk works on is in view.
"use strict";

function showToday() {
  const week = document.querySelector(".calendar-week");
  const today = week && week.querySelector(".calendar-col.is-today");
  if (today && week.scrollWidth > week.clientWidth) {
    const offset =
      today.getBoundingClientRect().left - week.getBoundingClientRect().left;
    week.scrollLeft += offset - 8;
  }
}
document.addEventListener("DOMContentLoaded", showToday);
