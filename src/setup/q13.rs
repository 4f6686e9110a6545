//! Setup of question 13 (tasks, models, measurements used only by its experiment).
