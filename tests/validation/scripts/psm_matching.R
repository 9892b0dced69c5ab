# Oracle: nearest-neighbour propensity-score matching with R's Matching package on the
# Lalonde NSW data shipped by MatchIt. Writes the data and the oracle numbers.
#   Rscript tests/validation/scripts/psm_matching.R
suppressMessages({library(Matching); library(MatchIt)})
here <- "tests/validation"
data("lalonde", package = "MatchIt")
d <- lalonde
d$black <- as.integer(d$race == "black"); d$hispan <- as.integer(d$race == "hispan")
ps <- glm(treat ~ age + educ + black + hispan + married + nodegree + re74 + re75,
          family = binomial, data = d)
d$pscore <- fitted(ps)
write.csv(d[, c("treat", "age", "educ", "black", "hispan", "married", "nodegree", "re74",
                "re75", "re78", "pscore")], file.path(here, "data", "lalonde.csv"),
          row.names = FALSE)
out <- list()
run <- function(name, ...) {
  m <- Match(Y = d$re78, Tr = d$treat, X = d$pscore, estimand = "ATT", ...)
  out[[name]] <<- list(est = unname(m$est[1, 1]), nobs_treated = length(unique(m$index.treated)),
                       n_matched_pairs = length(m$index.treated),
                       weights_sum = sum(m$weights))
}
run("nn1_ties", M = 1, ties = TRUE, replace = TRUE)
run("nn3_ties", M = 3, ties = TRUE, replace = TRUE)
run("nn1_caliper", M = 1, ties = TRUE, replace = TRUE, caliper = 0.05)  # in SDs of pscore
out[["pscore_sd"]] <- sd(d$pscore)
writeLines(jsonlite::toJSON(out, auto_unbox = TRUE, digits = NA),
           file.path(here, "oracles", "psm_matching.json"))
