# Writes tests/validation/data/labelled_haven.dta with R haven (an independent Stata
# writer): variable labels (one Chinese), value labels on a 0/1 treatment and on a
# region code, a labelled code without a label (9) and a missing value.
# Run from the repository root: Rscript tests/validation/scripts/stata_labels_haven.R
library(haven)
d <- data.frame(
  city = rep(1:4, each = 3),
  year = rep(2010:2012, times = 4),
  treat = labelled(c(0, 0, 1, 0, 0, 0, 0, 1, 1, 0, 0, 0),
                   c(untreated = 0, treated = 1), label = "碳交易试点"),
  region = labelled(c(1, 1, 1, 2, 2, 2, 3, 3, 3, 9, 9, 9),
                    c(East = 1, Central = 2, West = 3), label = "Region of the city"),
  y = c(1.5, 2.0, 1.0, 0.5, 0.7, NA, 3.0, 2.2, 2.0, 1.1, 1.2, 1.3)
)
attr(d$y, "label") <- "ln CO2 (万吨)"
write_dta(d, "tests/validation/data/labelled_haven.dta", version = 14)
